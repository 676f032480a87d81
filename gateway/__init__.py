"""The JT/T 808 gateway: real truck terminals in over TCP, contract messages out on MQTT.

``session`` is the pure per-connection state machine (frames in, replies and messages out),
``mapping`` turns a location report into a ``VehiclePosition``, ``serials`` makes the contract's
``seq`` from the terminal's 16-bit serial numbers, ``server`` is the asyncio TCP edge and
``publisher`` the MQTT one. The codec itself is the ``jt808`` room.
"""
