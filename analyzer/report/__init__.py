"""Reports: each connection's facts beside the judgement on them, and their JSON contract.

`Report` (connection.py) pairs a `Connection` (facts, from assemble) with its findings,
fingerprints and certificate summaries, made by build.py from analyzer/analysis; its `to_json()`
is the `tls-analyzer/1` object the CLI prints (messages.py renders the messages in it).
`CaptureReport` (capture.py) is one capture's reports and the document around them.
"""
