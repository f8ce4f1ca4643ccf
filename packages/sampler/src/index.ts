export { loadOnnxModel, type OnnxModel, type TensorMap } from './model/onnx.js';
