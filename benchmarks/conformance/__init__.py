"""The standards conformance benchmark: a suite of clips with ground truth and requirements, served
over RTSP to any system under test, whose Kafka events are validated, matched and scored
(`matthan conformance make-dev-suite` / `matthan conformance run`; format in FORMAT.md)."""
