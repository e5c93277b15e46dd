"""Labeling programs: the program set, the policy and sandbox they run under, applying them, their votes, curation."""
