"""The ``skiff`` command: Docker's verbs and flags."""
