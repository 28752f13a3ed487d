"""A simulated district of devices behaving like firmware, with scenario ground truth."""
