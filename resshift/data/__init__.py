"""Training-time and test-time data: degradations (basicsr building blocks) and masks."""
