"""Boundaries with the outside world (`matthan.integration`): the Kafka broker and clients, the
RTSP test server, and the event schemas shared by the agent and the conformance runner."""
