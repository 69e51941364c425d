"""Inputs as entries: a source tree (``tree``) and wheels installed as pip would (``wheel``)."""
