"""Adapters between polex records and the formats police systems exchange.

The domain stays pure; each module here reads or writes one outside format and turns it into
domain records (or rejections that name the field at fault). ``registry`` lists the formats
this node can read and write, built in or shipped as plugins through entry points.
"""
