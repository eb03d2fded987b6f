"""Recognisers: ONNX models and their numpy pre/post-processing (`matthan.recognizers`).

Every backend implements :class:`matthan.recognizers.base.Recognizer` and exchanges
:class:`matthan.recognizers.base.Detections` with the edge pipeline.
"""
