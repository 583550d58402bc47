"""Your solutions to PS1. Implement every function that raises NotImplementedError."""
