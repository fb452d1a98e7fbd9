export { DecisionLog } from './decision-log';
export type { DecisionLogCounters, DecisionLogOptions, DecisionLogStats, DropReason } from './decision-log';
export { FileSink, type FileSinkOptions } from './file-sink';
export { HttpSink, HttpSinkError, type HttpSinkOptions } from './http-sink';
export { DEFAULT_ERASED_POINTERS, RecordMasker, parsePointer } from './mask';
export { recordOf } from './record';
export type {
  DecisionEndpoint,
  LoggedDecision,
  DecisionGrant,
  DecisionPolicyResult,
  DecisionReason,
  DecisionRecord,
  DecisionResult,
} from './record';
export { RedisStreamSink, type RedisStreamSinkOptions } from './redis-stream-sink';
export { PartialWriteError, type DecisionLogSink } from './sink';
export { createSink, parseDecisionLogSpec, type DecisionLogSpec, type SinkDeps } from './sink-spec';
export { PIPE_ATOMIC_BYTES, StreamSink, chunkLines, type StreamSinkOptions } from './stdout-sink';
