"""The training engine (torch). Never imports textual."""
