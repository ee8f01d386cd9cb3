"""Deals: "what's next for Acme?", moving stages, adding, closing and reopening deals, "my deals".

- `cards`: finding the deal meant and its card for the stage it is in;
- `moves`: moving a deal to another stage;
- `lifecycle`: adding, closing (won or lost) and reopening a deal;
- `lists`: `my deals` and the deals at a stage;
- `links`: a channel linked to a deal.
"""
