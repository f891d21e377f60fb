"""Primitives every process shares: the contract's fixed names (`common.contract`), settings, the payload codec and
data converter, connecting to Temporal, registering search attributes, ending a client process.

May import the core (`cases`, `calendars`) only; everything else in the project may import this.
"""
