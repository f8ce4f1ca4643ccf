import { describe, expect, it } from 'vitest';
import { checkGraph, expectedOneflowGraph } from './oneflow-io.js';
import type { GraphMetadata } from './onnx/tensor.js';

const declared = (v: number, c: number): GraphMetadata => ({
  inputs: [
    { name: 'tokens', type: 'int64', shape: ['B', 'L'] },
    { name: 'token_mask', type: 'bool', shape: ['B', 'L'] },
    { name: 'images', type: 'float32', shape: ['B', 'M', c, 28, 28] },
    { name: 'image_t', type: 'float32', shape: ['B', 'M'] },
    { name: 'image_pos', type: 'int64', shape: ['B', 'M'] },
    { name: 'image_mask', type: 'bool', shape: ['B', 'M'] },
  ],
  outputs: [
    { name: 'pi_logit', type: 'float32', shape: ['B', 'L'] },
    { name: 'log_lambda', type: 'float32', shape: ['B', 'L'] },
    { name: 'q_logprobs', type: 'float32', shape: ['B', 'L', v] },
    { name: 'velocity', type: 'float32', shape: ['B', 'M', c, 28, 28] },
  ],
});

describe('a OneFlow graph checked against its config', () => {
  it('accepts the graph the config describes', () => {
    expect(() => checkGraph('m.onnx', declared(95, 1), expectedOneflowGraph(95, [1, 28, 28], 'float32'))).not.toThrow();
  });

  it('names the file, the value and both shapes or types when they disagree', () => {
    expect(() => checkGraph('m.onnx', declared(95, 1), expectedOneflowGraph(96, [1, 28, 28], 'float32'))).toThrow(
      /m.onnx does not match config.json: output q_logprobs: shape \[B, L, 95\], expected \[\?, \?, 96\]/,
    );
    expect(() => checkGraph('m.onnx', declared(95, 3), expectedOneflowGraph(95, [1, 28, 28], 'float32'))).toThrow(
      /input images: shape \[B, M, 3, 28, 28\], expected \[\?, \?, 1, 28, 28\].*output velocity/,
    );
    expect(() => checkGraph('m.onnx', declared(95, 1), expectedOneflowGraph(95, [1, 28, 28], 'float16'))).toThrow(
      /input images: element type float32, expected float16/,
    );
    const missing = { ...declared(95, 1), outputs: declared(95, 1).outputs.slice(0, 3) };
    expect(() => checkGraph('m.onnx', missing, expectedOneflowGraph(95, [1, 28, 28], 'float32'))).toThrow(/output velocity missing/);
  });
});
