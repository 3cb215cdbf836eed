/** ONNX import (issue #16): read a ModelProto, run it on TensorFlow.js, name its layers and hook points. */
export { readOnnx, parseOnnx } from './proto.js';
export type { OnnxGraph, OnnxNode, ConstTensor, AttrValue, OnnxValueInfo } from './graph.js';
export { OnnxModel, type OnnxModelOptions, type NchwBatch, type OnnxRunResult } from './executor.js';
export { findHookPoints, findLayers, modulePath, moduleAncestors, type LayerInfo, type OnnxHookPoint } from './scope.js';
export { SUPPORTED_OPS, type OnnxConv, type OnnxMaxPool } from './ops.js';
