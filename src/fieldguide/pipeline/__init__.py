"""The fitted pipeline: schema + featurizer + model + reference statistics + lineage, as one safe artifact.

>>> from fieldguide.pipeline import Pipeline
"""

from fieldguide.pipeline._lineage import fingerprint
from fieldguide.pipeline._onnx import check_onnx, onnx_inputs, save_onnx, to_onnx
from fieldguide.pipeline._pipeline import FORMAT, FORMAT_VERSION, EncodedTarget, Pipeline, encode_target
from fieldguide.pipeline._reference import category_summary, feature_statistics, numeric_summary

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "EncodedTarget",
    "Pipeline",
    "category_summary",
    "check_onnx",
    "encode_target",
    "feature_statistics",
    "fingerprint",
    "numeric_summary",
    "onnx_inputs",
    "save_onnx",
    "to_onnx",
]
