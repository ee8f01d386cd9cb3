"""Questions typed the way reps and managers type them, through the terminal path (the real router).

Demo data: Riley (rep) owns Acme Corp (enterprise, Discovery), Initech (enterprise, Evaluation) and Hooli
Express (transactional, Demo); Sam (rep, same manager) owns Umbrella Health and Stark Logistics; Morgan
manages both; Avery is enablement.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.messages import Reply
from handlers.understand.words import tokens
from playbooks.loader import check_folder
from playbooks.thesaurus import BUNDLED, Thesaurus, check_files, stem, words


def first_titled(reply: Reply) -> str:
    return next((s.title for s in reply.sections if s.title), "") or ""


# -- deal questions phrased freely ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "header"),
    [
        ("Initech — where do things stand?", "Initech: Evaluation"),
        ("any update on Initech?", "Initech: Evaluation"),
        ("Hooli: next move?", "Hooli Express: Demo"),
        ("walk me through hooli", "Hooli Express: Demo"),
        ("acme?", "Acme Corp: Discovery"),
        ("how's initech going", "Initech: Evaluation"),
        ("brief me on acme before my call", "Acme Corp: Discovery"),
        ("wher are we with initch", "Initech: Evaluation"),  # typos in the question and the name
    ],
)
def test_a_deal_named_anywhere_in_the_question_gets_its_card(chat_as, question, header):
    assert chat_as().say(question).header == header


def test_what_blocks_a_deal_shows_its_open_exit_criteria_first(chat_as):
    chat = chat_as()
    for question in ("what's blocking Hooli from moving on", "what's still open on Initech", "is Acme ready for the proposal stage?"):
        reply = chat.say(question)
        assert first_titled(reply).startswith("Exit criteria not yet confirmed"), question
    # A section of a deal's stage the plain card leaves out comes first when asked for.
    reply = chat.say("who should I be talking to at Initech")
    assert reply.header == "Initech: Evaluation"
    assert first_titled(reply) == "Buyer roles involved"


def test_fixed_commands_keep_working(chat_as):
    chat = chat_as()
    assert chat.say("what's next for Acme?").header == "Acme Corp: Discovery"
    assert chat.say("next initch").header == "Initech: Evaluation"
    assert chat.say("stage discvery").header == "Discovery stage"
    assert chat.say("exit criteria for Acme").header == "Acme Corp: Discovery"
    assert "couldn't find a deal" in chat.say("what's next for Wayne Enterprises").plain_text()
    assert "I don't know a stage" in chat.say("exit criteria for the moon landing").plain_text()


# -- permission before fuzziness ----------------------------------------------------------------------------


def test_a_colleagues_deal_named_like_my_own_is_refused_not_replaced(chat_as):
    riley, sam = chat_as(), chat_as("sam@example.com")
    riley.say("new deal Globex in discovery")
    sam.say("new deal Globex Retail in evaluation")
    for question in (
        "what's next for Globex Retail",
        "any update on globex retail?",
        "Globex Retail — where do things stand?",
        "globex retial?",  # a typo closer to the colleague's deal than to Riley's own
        "move Globex Retail to proposal",
        "confirm globex retail",
    ):
        reply = riley.say(question)
        assert reply.kind == "refusal", (question, reply.header)
        text = reply.plain_text()
        assert "Sam" not in text and "Evaluation" not in text and "Globex:" not in (reply.header or "")
    assert riley.say("globex?").header == "Globex: Discovery"


def test_words_that_fit_several_deals_get_a_choice(chat_as):
    chat = chat_as()
    chat.say("new deal Acme Logistics in discovery")
    for question in ("acme?", "any update on acme", "walk me through acme"):
        reply = chat.say(question)
        assert reply.kind == "choice", question
        assert sorted(b.label for b in reply.buttons) == ["Acme Corp (Discovery)", "Acme Logistics (Discovery)"]
    assert chat.click("Logistics").header == "Acme Logistics: Discovery"
    assert chat.say("acme corp status").header == "Acme Corp: Discovery"


def test_a_manager_sees_the_team_and_is_refused_other_deals(ctx, demo, chat_as):
    morgan = chat_as("manager@example.com")
    assert morgan.say("how is Umbrella doing?").header == "Umbrella Health: Proposal and business case"
    assert morgan.say("which deals on my team are stuck?").header.startswith("Team summary")
    outsider = chat_as("enablement@example.com")
    assert outsider.say("stark?").header == "Stark Logistics: Quote"  # enablement sees every deal


# -- stages and sections ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "header", "first"),
    [
        ("negotiations", "Decision and negotiation stage", None),
        ("the first stage", "Problem awareness stage", None),
        ("what's the last step", "Value delivery stage", None),
        ("stage 3", "Evaluation stage", None),
        ("talk tracks for the closing stage", "Decision and negotiation stage", "Talk tracks"),
        ("buyer roles in evaluation", "Evaluation stage", "Buyer roles involved"),
        ("what has to be true to leave discovery?", "Discovery stage", "Exit criteria"),
        ("objections in proposal", "Proposal and business case stage", "Objections"),
        ("objectives in proposal", "Proposal and business case stage", "Objectives"),
        ("coaching questions for evaluation", "Evaluation stage", "Coaching questions"),
        ("questons to ask in discovrey", "Discovery stage", "Questions to ask"),
        ("exit criteria for discovery", "Discovery stage", "Exit criteria"),
    ],
)
def test_stages_named_in_other_words_and_the_section_asked_for_first(chat_as, question, header, first):
    reply = chat_as().say(question)
    assert reply.header == header
    if first:
        assert first_titled(reply).startswith(first)


def test_a_stage_of_the_askers_own_playbook_wins(chat_as):
    # Riley's deals are mostly enterprise; "close" is a stage of the transactional playbook only.
    assert chat_as().say("stage close").header == "Close stage"
    assert chat_as().say("the closing stage").header == "Decision and negotiation stage"  # an alias


def test_objection_and_objective_stay_apart():
    assert stem("objection") != stem("objective")
    assert stem("objections") == stem("objection")


# -- paraphrase and unknown words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("who signs the cheque", "Buyer roles"),
        ("my champion stopped answering", "Evaluation · Talk track: When your champion goes quiet"),
        ("how do I handle a procurement bulldozer", "Decision and negotiation · Objection"),
        ("legal is sitting on the contract", "Decision and negotiation ·"),
        ("they want to build it in house", "Discovery · Objection"),
        ("they say it's too expensive", "Objection"),
    ],
)
def test_the_buyers_words_find_the_playbooks_words(chat_as, question, expected):
    reply = chat_as().say(question)
    assert reply.header.startswith("Playbook:"), reply.plain_text()
    assert expected in reply.sections[0].title


def test_one_unknown_word_does_not_lose_the_question(chat_as):
    reply = chat_as().say("how do I write a kickass business case")
    assert reply.header.startswith("Playbook:")
    assert "Proposal and business case" in reply.sections[0].title


# -- commands in free words, not understood, help --------------------------------------------------------


def test_push_a_deal_forward_moves_it_to_the_next_stage(chat_as):
    chat = chat_as()
    assert chat.say("push Hooli forward one stage").header == "Hooli Express moved to Quote"
    assert chat.say("advance initech to the next stage").header == "Initech moved to Proposal and business case"
    reply = chat.say("push hoolie forward")  # a typo: a change asks first
    assert reply.kind == "choice" and "Do you mean Hooli Express?" in reply.plain_text()


def test_not_understood_offers_the_nearest_commands_as_buttons(chat_as):
    chat = chat_as()
    reply = chat.say("what is the weather like")
    assert reply.kind == "error" and "didn't understand" in reply.plain_text()
    assert reply.buttons and all(b.action == "say" for b in reply.buttons)
    assert reply.buttons[-1].label == "Help"
    manager = chat_as("manager@example.com").say("team stuf plz")
    assert manager.header.startswith("Team summary")
    suggestions = chat_as("manager@example.com").say("coachng rota")
    assert "who should I coach?" in [b.label for b in suggestions.buttons]
    # A suggestion button types its command.
    assert chat.press("say", "my deals").header.startswith("Your open deals")


def test_help_lists_what_this_person_can_do(chat_as):
    rep = chat_as().say("help").plain_text()
    manager = chat_as("manager@example.com").say("help").plain_text()
    enablement = chat_as("enablement@example.com").say("help").plain_text()
    assert "who should I coach?" not in rep and "quiz report" not in rep
    assert "who should I coach?" in manager and "quiz report" not in manager
    assert "quiz report" in enablement


# -- the thesaurus and aliases are validated like playbooks ---------------------------------------------------


def test_the_bundled_thesaurus_is_valid_and_maps_phrases():
    terms, errors = check_files([BUNDLED])
    assert errors == []
    found = Thesaurus(terms).find(words("my champion went quiet and legal is sitting on the contract"))
    assert [m.means.split()[0] for m in found] == ["stalled", "procurement"]


def test_thesaurus_and_alias_mistakes_are_reported_with_file_and_line(tmp_path: Path):
    folder = tmp_path / "playbooks"
    (folder / "thesaurus").mkdir(parents=True)
    (folder / "sales.yaml").write_text(
        "id: sales\nname: Sales\nstages:\n"
        "  - id: discover\n    name: Discover\n    aliases: [first look]\n"
        "    exit_criteria: [{id: a, text: A}]\n"
        "  - id: close\n    name: Close\n    aliases: [first look]\n"
        "    exit_criteria: [{id: b, text: B}]\n"
    )
    (folder / "thesaurus" / "ours.yaml").write_text(
        "terms:\n  - means: economic buyer\n    said: [money person]\n"
        "  - means: champion\n    said: [money persons]\n"
    )
    (folder / "thesaurus" / "typo.yaml").write_text(
        "terms:\n  - means: champion\n    said: [fan]\n  - mean: typo\n"
        "  - means: price\n    said: [pricey]\n    section: objection\n"
    )
    _, errors = check_folder(folder)
    printed = [str(e) for e in errors]
    assert any(p.startswith(f"{folder / 'sales.yaml'}:10:") and "first look" in p for p in printed), printed
    assert any(p.startswith(f"{folder / 'thesaurus' / 'ours.yaml'}:") and "money persons" in p for p in printed), printed
    assert any("typo.yaml:4:" in p and "did you mean 'means'" in p for p in printed), printed
    assert any("typo.yaml:7:" in p and "objections" in p for p in printed), printed  # the section kinds listed


def test_tokens_ignore_case_punctuation_and_accents():
    assert tokens("Globex — where do things stand?") == ["globex", "where", "do", "things", "stand"]
    assert tokens("Café Lumière, Müller-Größe & Søn") == ["cafe", "lumiere", "muller", "grosse", "son"]


def test_a_deal_name_with_accents_is_found_typed_without_them(ctx, demo, chat_as):
    rep = chat_as()
    rep.say("new deal Café Müller in discovery")
    assert rep.say("cafe muller — where do things stand?").header == "Café Müller: Discovery"
    assert rep.say("any news on cafe muller").header == "Café Müller: Discovery"
    sam = chat_as("sam@example.com")  # not Sam's deal: refused, typed with or without the accents
    assert sam.say("how is cafe muller doing").kind == "refusal"
    assert sam.say("café müller status?").kind == "refusal"


def test_a_playbook_named_in_the_question_is_the_one_answered(chat_as):
    rep = chat_as()  # Riley works mostly in the enterprise playbook
    assert rep.say("what's the first stage").header == "Problem awareness stage"
    assert rep.say("what's the first step in the transactional playbook?").header == "Qualify stage"
    assert rep.say("last stage of the transactional process").header == "Close stage"


def test_a_stage_said_as_a_stage_keeps_the_section_asked_for(chat_as):
    reply = chat_as().say("objectoins in the decison and negotation stage")
    assert reply.header == "Decision and negotiation stage" and first_titled(reply).startswith("Objections")
    reply = chat_as().say("exit stuff for the evaluation stage?")
    assert reply.header == "Evaluation stage" and first_titled(reply).startswith("Exit criteria")


@pytest.mark.parametrize(
    "question",
    [
        "the client says we're too pricey",
        "what do I do if the customer is worried about switching costs",
        "their IT folks don't believe it will scale, how do I handle that",
        "the buyer keeps saying this just isn't a priority for them",
        "the client says the docs we sent don't justify the price",  # "docs", "links" in the buyer's mouth:
        "buyer thinks the links we shared show a competitor is cheaper",  # what they object about, no content ask
        "cfo worried the price is too high for this year",  # a position without "is"
    ],
)
def test_what_the_buyer_says_is_answered_with_objections(chat_as, question):
    reply = chat_as().say(question)
    assert reply.header.startswith("Playbook:"), reply.plain_text()
    assert "Objection" in reply.sections[0].title, [s.title for s in reply.sections]


def test_two_deals_named_in_one_question_get_a_choice(chat_as):
    reply = chat_as().say("acme or initech, which is closer?")
    assert reply.kind == "choice"
    assert sorted(b.label for b in reply.buttons) == ["Acme Corp (Discovery)", "Initech (Evaluation)"]


def test_choosing_among_deals_keeps_the_section_the_question_asked_for(ctx, demo, chat_as):
    from tests.helpers.chat import add_person

    add_person(ctx, demo, "kim@example.com", "Kim Lee", manager="manager@example.com")
    kim = chat_as("kim@example.com")
    kim.say("new deal Orion East in evaluation")
    kim.say("new deal Orion West in proposal")
    choice = kim.say("objections for orion?")
    assert choice.kind == "choice" and {b.label.split(" (")[0] for b in choice.buttons} == {"Orion East", "Orion West"}
    card = kim.click("Orion West")
    assert card.header.startswith("Orion West: Proposal") and first_titled(card).startswith("Objections")


@pytest.mark.parametrize(
    ("email", "question", "title", "listed", "not_listed"),
    [
        ("manager@example.com", "who on my team has deals in proposal?", "Your team's deals in Proposal",
         {"Umbrella Health"}, {"Acme Corp", "Initech"}),
        ("manager@example.com", "which deals are in evaluation", "Your team's deals in Evaluation",
         {"Initech"}, {"Umbrella Health"}),
        ("rep@example.com", "which of my deals are in discovery?", "Your deals in Discovery", {"Acme Corp"},
         {"Initech"}),
        ("sam@example.com", "any deals in evaluation?", "Your deals in Evaluation", set(), {"Initech"}),
    ],
)
def test_deals_at_a_stage_for_a_manager_and_a_rep(chat_as, email, question, title, listed, not_listed):
    reply = chat_as(email).say(question)
    assert (reply.header or "").startswith(title), reply.header
    text = reply.plain_text()
    assert all(name in text for name in listed) and not any(name in text for name in not_listed)
    if not listed:
        assert "None of your open deals is at this stage" in text


def test_a_deal_named_by_its_later_words_or_several_of_them(chat_as):
    rep = chat_as()
    rep.say("new deal Hôpital Saint-Éloi in discovery")
    rep.say("new deal Mercy Children's NICU in evaluation")
    assert rep.say("whats next on saint-eloi").header == "Hôpital Saint-Éloi: Discovery"
    assert rep.say("mercy nicu where do things stand?").header == "Mercy Children's NICU: Evaluation"
    assert rep.say("move hopital saint-eloi to the next stage").header.startswith("Hôpital Saint-Éloi moved to")


def test_an_everyday_word_in_a_colleagues_deal_name_is_not_read_as_that_deal(chat_as):
    chat_as().say("new deal Champion Foods in discovery")  # Riley's; "champion" is a word the playbooks use
    sam = chat_as("sam@example.com")
    reply = sam.say("how do I test whether my champion can really sell internally")
    assert reply.kind != "refusal" and reply.header.startswith("Playbook:"), reply.plain_text()
    assert sam.say("champion foods?").kind == "refusal"  # the deal's own name still is refused
    assert sam.say("champion?").kind == "refusal"  # and so is the word alone, which can only mean the deal


@pytest.mark.parametrize(
    ("question", "header"),
    [
        ("initech is ready for the proposal stage, move it", "Initech moved to Proposal and business case"),
        ("advance initech to next stage pls", "Initech moved to Proposal and business case"),
        ("initech → next stage", "Initech moved to Proposal and business case"),
        ("hooli express -> next", "Hooli Express moved to Quote"),
    ],
)
def test_moves_said_in_other_words(chat_as, question, header):
    reply = chat_as().say(question)
    assert (reply.header or "").startswith(header), reply.plain_text()


def test_a_near_name_in_a_free_move_still_asks_first(ctx, chat_as):
    reply = chat_as().say("initeck is ready for proposal, move it")
    assert reply.kind == "choice" and "Do you mean Initech?" in reply.plain_text()


def test_a_manager_asking_who_to_coach_or_about_named_reps(chat_as):
    manager = chat_as("manager@example.com")
    assert "due for coaching" in (manager.say("who on my team should i coach this week?").header or "")
    assert manager.say("where are riley and sam's deals at").header.startswith("Team summary")
    rep = chat_as()  # a rep naming a colleague gets no team view
    assert not (rep.say("where are sam's deals at").header or "").startswith("Team summary")


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("initech: who are the key players on their side", "Buyer roles"),
        ("acme — gating items before we move on?", "Exit criteria"),
    ],
)
def test_section_words_reps_use(chat_as, question, first):
    assert first_titled(chat_as().say(question)).startswith(first)


@pytest.mark.parametrize(
    ("question", "header"),
    [
        ("whats the stage after discovery", "Evaluation stage"),
        ("the stage before evaluation, whats involved", "Discovery stage"),
        ("what comes after the proposal stage?", "Decision and negotiation stage"),
        ("what should i ask on the first call", "Problem awareness stage"),
    ],
)
def test_stages_named_by_their_neighbour_or_the_first_call(chat_as, question, header):
    assert chat_as().say(question).header == header


def test_after_a_demo_is_an_event_not_the_next_stage(chat_as):
    assert chat_as().say("what comes after the demo stage").header == "Quote stage"
    assert chat_as().say("tips for after a demo").header != "Quote stage"


def test_exit_criteria_said_as_what_to_nail_down_before_leaving(chat_as):
    reply = chat_as().say("what do i gotta nail down before leaving the discovery stage")
    assert reply.header == "Discovery stage"
    assert first_titled(reply).startswith("Exit criteria")


def test_my_deals_and_everyones_deals(chat_as):
    for question in ("list my deals pls", "whats on my plate rn"):
        assert chat_as().say(question).header == "Your open deals", question
    assert chat_as("manager@example.com").say("show me everyones deals").header.startswith("Team summary")


def test_next_stage_wins_over_a_stage_named_as_what_was_finished(chat_as):
    reply = chat_as().say("initech is done with evaluation, push it to the next stage")
    assert (reply.header or "").startswith("Initech moved to Proposal and business case"), reply.plain_text()


def test_a_manager_asking_what_to_ask_a_rep_gets_coaching_questions(chat_as):
    reply = chat_as("manager@example.com").say("umbrella - what should i ask sam about it in our 1:1")
    assert reply.header == "Umbrella Health: Proposal and business case"
    assert first_titled(reply).startswith("Coaching questions")
    rep = chat_as().say("initech - what should i ask in the next call")  # a rep: questions for the buyer
    assert first_titled(rep).startswith("Questions to ask")


@pytest.mark.parametrize(
    "question",
    [
        "who closed the parking lot gate, im stuck lol",
        "anyone want to split a pizza before the pipeline review tmrw",
        "can you order lunch for the team meeting",
    ],
)
def test_everyday_errands_with_sales_words_are_not_understood(chat_as, question):
    reply = chat_as().say(question)
    assert reply.kind == "error" and "didn't understand" in reply.plain_text(), reply.plain_text()


def test_an_everyday_word_does_not_hide_a_deal_or_a_stage_asked_about(chat_as):
    assert chat_as().say("lunch with acme tomorrow, what should i ask").header == "Acme Corp: Discovery"
    assert chat_as().say("questions for the discovery stage over lunch").header == "Discovery stage"


def test_a_possessive_in_a_deal_name_typed_without_its_apostrophe(chat_as):
    riley = chat_as()
    riley.say("new deal Northgate Children's Hospital in discovery")
    reply = riley.say("northgate childrens got approved!! move it to the next stage")
    assert (reply.header or "").startswith("Northgate Children's Hospital moved to Evaluation"), reply.plain_text()


def test_done_with_the_stage_it_is_in_then_advance_it_moves_it_on(chat_as):
    reply = chat_as().say("initech is done with evaluation, advance it")
    assert (reply.header or "").startswith("Initech moved to Proposal and business case"), reply.plain_text()


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("what has to be signed off before we leave evaluation", "Exit criteria"),
        ("initech - got anything i can hand them?", "Content"),
    ],
)
def test_more_section_words_reps_use(chat_as, question, first):
    assert first_titled(chat_as().say(question)).startswith(first)


def test_a_manager_asking_for_their_folks_and_what_to_ask_their_reps(chat_as):
    manager = chat_as("manager@example.com")
    assert manager.say("show me everything my folks have open rn").header.startswith("Team summary")
    reply = manager.say("what do i ask my reps in the evaluation stage")
    assert reply.header == "Evaluation stage" and first_titled(reply).startswith("Coaching questions")


def test_a_colleagues_deal_whose_name_starts_my_own_is_refused_and_mine_offered(chat_as):
    riley, sam = chat_as(), chat_as("sam@example.com")
    sam.say("new deal Castle Freight in evaluation")
    riley.say("new deal Castle Freight Depot Services in discovery")
    reply = riley.say("castle freight?")
    assert reply.kind == "refusal"
    assert "Sam" not in reply.plain_text() and "Evaluation" not in reply.plain_text()
    assert [b.label for b in reply.buttons] == ["Castle Freight Depot Services"]
    assert riley.click("Castle Freight Depot Services").header == "Castle Freight Depot Services: Discovery"


def test_words_around_a_deal_name_are_not_read_as_a_misspelt_longer_name(chat_as):
    riley = chat_as()
    riley.say("new deal Pioneer Grocers Co-op in discovery")
    riley.say("new deal Pioneer Parcel in discovery")
    reply = riley.say("bump pioneer grocers to the next stage pls")
    assert (reply.header or "").startswith("Pioneer Grocers Co-op moved to Evaluation"), reply.plain_text()


def test_done_and_move_on_asks_for_exit_criteria_and_signs_off_for_the_buyer(chat_as):
    reply = chat_as().say("how do i know the evaluation is actually done and we can move on")
    assert reply.header == "Evaluation stage" and first_titled(reply).startswith("Exit criteria"), reply.plain_text()
    reply = chat_as().say("who actually signs off on a deal this size?")
    assert "Buyer roles" in reply.sections[0].title or first_titled(reply).startswith("Buyer roles"), [
        s.title for s in reply.sections
    ]


def test_an_annoyed_buyer_is_an_objection(chat_as):
    reply = chat_as().say("buyer is annoyed about the price increase")
    assert "Objection" in reply.sections[0].title, [s.title for s in reply.sections]


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("what do i actually do in the discovery stage", "Next tasks"),
        ("whos usually involved in the evaluation stage", "Buyer roles"),
    ],
)
def test_hedge_words_inside_a_phrase_do_not_break_it(chat_as, question, first):
    assert first_titled(chat_as().say(question)).startswith(first)


def test_what_have_i_got_going_on_lists_my_deals(chat_as):
    assert chat_as().say("what have i got going on rn").header == "Your open deals"


@pytest.mark.parametrize(
    "question",
    ["can you move initech to evaluation?", "initech is ready for evaluation, move it", "initech is in evaluation now, move it there"],
)
def test_moving_a_deal_to_the_stage_it_is_in_changes_nothing(chat_as, question):
    reply = chat_as().say(question)
    assert "already in Evaluation" in reply.plain_text(), reply.plain_text()
    assert chat_as().say("initech?").header == "Initech: Evaluation"


def test_move_it_forward_moves_on_whatever_stage_the_sentence_names(chat_as):
    reply = chat_as().say("initech - evaluation plan is signed, move it forward")
    assert (reply.header or "").startswith("Initech moved to Proposal and business case"), reply.plain_text()


def test_one_kind_of_section_with_no_stage_answers_from_the_stages_my_deals_are_in(chat_as):
    # Riley's enterprise deals are in Discovery and Evaluation: their entries come first, and every stage
    # of the playbook is a button away.
    reply = chat_as().say("objection handling pls")
    titles = [s.title for s in reply.sections if s.title]
    assert titles and all(" · Objection: " in t for t in titles)
    assert {t.split(" · ")[0] for t in titles} <= {"Discovery", "Evaluation"}
    assert [b.label for b in reply.buttons][:3] == ["Problem awareness", "Discovery", "Evaluation"]
    assert "pick the stage" in reply.context
    # Words beyond the kind of section decide which entries, wherever the deals are.
    priced = chat_as().say("how do I handle pushback on our price")
    assert "price" in first_titled(priced).lower()


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("task checklist?", "Tasks"),
        ("what proves a stage is actually done", "Exit criteria"),
    ],
)
def test_a_named_kind_of_section_wins_over_a_word_of_another(chat_as, question, first):
    titles = [s.title for s in chat_as().say(question).sections if s.title]
    assert titles and all(t.split(" · ")[1].startswith(first) for t in titles), titles


def test_docs_to_leave_with_the_customer_are_content_not_exit_criteria(chat_as):
    reply = chat_as().say("acme - any docs to leave w the customer")
    assert reply.header == "Acme Corp: Discovery" and first_titled(reply).startswith("Content")


def test_the_crew_is_the_team_and_office_errands_are_not_playbook_questions(chat_as):
    assert chat_as("manager@example.com").say("pipeline review for the crew").header.startswith("Team summary")
    for errand in ("how do i submit mileage expenses", "the water cooler in the break room is leaking again"):
        reply = chat_as().say(errand)
        assert reply.kind == "error" and "didn't understand" in reply.plain_text(), errand


def test_an_arrow_from_a_deal_to_a_stage_moves_it(chat_as):
    assert chat_as().say("acme -> evaluation").header == "Acme Corp moved to Evaluation"
