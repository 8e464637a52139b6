"""Who you are and what you may do: passwords, tokens, login sessions and roles."""
