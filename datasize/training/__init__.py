"""Split -> decoded cache -> one trained run and what it says: batches, models, the loop, the LR finder,
the diagnosis."""
