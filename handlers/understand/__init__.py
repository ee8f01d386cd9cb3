"""Entity-first understanding of questions typed in chat.

Commands with arguments ("move Acme to evaluation", "coached Ana on pipeline: ...") have their own
patterns in the router. Everything else comes here: the question's words are searched for the things
it talks about, in any order, and only then is the answer chosen:

- deal names (the asker's visible open deals; whole names, their first words, or a close spelling),
  where the name of a deal the asker may not see beats a merely similar deal of their own (refused,
  never replaced) and words that fit several deals get a choice;
- stage names (name, id, aliases, word stems and spelling, "the first stage", "the last step");
- section kinds (exit criteria, tasks, objectives, questions, coaching questions, buyer roles,
  talk tracks, objections, content);
- intent words (status, push forward, my team, my deals).

`RULES` is the decision table: the first rule whose condition holds answers.
"""
