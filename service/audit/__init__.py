"""The audit trail: a verifiable RFC 9162 log of every stored reporting event, and its checks."""
