"""`invoke rehearse`: steady load through the sandbox while real release commands run, measured."""
