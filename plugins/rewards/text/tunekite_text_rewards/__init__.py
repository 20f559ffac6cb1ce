"""Rewards on a completion's shape, not its correctness: `format`, `repetition`,
`soft_overlong` (ms-swift's `swift/plugin/orm.py`), in pure Python."""
