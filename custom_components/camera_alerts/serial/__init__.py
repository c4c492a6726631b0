"""ESP32-over-serial core: line protocol, per-board model and the serial link.

Nothing in this package imports Home Assistant; the entity platforms render
`BoardState` and drive `SerialMonitor`.
"""
