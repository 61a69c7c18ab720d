"""User commands of the Tool Labs cluster."""
