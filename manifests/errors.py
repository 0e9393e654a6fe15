class ValidationError(ValueError):
    """A document failed validation; the message is safe to show to the caller."""
