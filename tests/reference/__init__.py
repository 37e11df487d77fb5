"""Independent reference implementations used by tests (NumPy forward passes, checkpoint
builders). They share no code with the application modules they check."""
