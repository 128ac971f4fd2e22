"""The functional core: from a decoded event to alerts, scores and training examples.

Nothing in this package knows about Kafka or Faust. `engine.Engine` takes one message
value and returns its effects; `events` decodes, `update` and `state` keep the borrower,
`context` the macro and portfolio context, `features` turns both into model inputs,
`labels` holds snapshots until their outcome is known, `model` and `trainer` learn
online, `policy` turns scores into tiers, reasons and actions, and `outputs` are the
records other systems read. `privacy` masks what a dead letter shows.
"""
