"""The benchmark harness: knewwhen measured beside its limit, its peer and a naive fold, in one run."""
