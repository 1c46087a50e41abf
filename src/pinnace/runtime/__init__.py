"""The code that runs inside a task's process: the KFP executor protocol, stdlib only.

Imports here must stay relative: the local executor copies this folder and runs it as a
top-level package under another name (`python -m pinnace_runtime ...`).
"""
