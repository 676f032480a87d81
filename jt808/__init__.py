"""JT/T 808 (2013 and 2019) codec: frames, headers, sub-packages and the terminal messages the gateway handles.

Pure functions and frozen dataclasses, standard library only, no IO and no clock::

    frame       escape, checksum, Header, pack / unpack / split, FrameReader (TCP stream splitter)
    bcd         BCD digits and the 6-byte BCD time (UTC+8) <-> UTC epoch milliseconds
    messages    message ids, body dataclasses, decode_body
    location    0x0200 location report, 0x0704 batch, alarm names, additional-information items
    subpackage  Reassembler for sub-packaged messages
    errors      FrameError, whose ``reason`` labels counters and dead letters
"""
