"""Every OpenTelemetry name ashford_llm emits, in one place.

The GenAI conventions are about to rename the client metrics
(`gen_ai.client.operation.duration` -> `gen_ai.client.inference.duration`, the token histogram
-> counters); keeping every span, event, attribute and metric name here makes that a one-file
change. Names follow the latest released GenAI conventions (v1.41); `ashford.*` names are ours.
"""

from __future__ import annotations

from typing import Final

# Events other layers add to the current (Tracing) span, so retries and waits are visible.
RETRY_EVENT: Final = "ashford.retry"
RETRY_ATTEMPT: Final = "ashford.retry.attempt"
RETRY_DELAY_S: Final = "ashford.retry.delay_s"
RATE_LIMIT_WAIT_EVENT: Final = "ashford.rate_limit.wait"
RATE_LIMIT_WAIT_S: Final = "ashford.rate_limit.wait_s"
ERROR_TYPE: Final = "error.type"
FALLBACK_EVENT: Final = "ashford.fallback"
FALLBACK_SKIPPED_PROVIDER: Final = "ashford.fallback.skipped.provider"
FALLBACK_SKIPPED_MODEL: Final = "ashford.fallback.skipped.model"
FALLBACK_NEXT_PROVIDER: Final = "ashford.fallback.next.provider"
FALLBACK_NEXT_MODEL: Final = "ashford.fallback.next.model"
# Span attributes Fallback sets: which provider answered (0 is the first).
FALLBACK_INDEX: Final = "ashford.fallback.index"
FALLBACK_PROVIDER: Final = "ashford.fallback.provider"
FALLBACK_MODEL: Final = "ashford.fallback.model"
# CircuitBreaker's transitions: a span event and a counter, with the state entered.
CIRCUIT_EVENT: Final = "ashford.circuit"
CIRCUIT_STATE: Final = "ashford.circuit.state"
CIRCUIT_TRANSITIONS: Final = "ashford.circuit.transitions"
CIRCUIT_TRANSITIONS_UNIT: Final = "{transition}"
CIRCUIT_TRANSITIONS_DESCRIPTION: Final = "Circuit breaker state changes, by the state entered"

# Span and metric attributes (GenAI client inference span).
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_STREAM: Final = "gen_ai.request.stream"
OUTPUT_TYPE: Final = "gen_ai.output.type"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
# Released (v1.41) name; genai-repo main renames it gen_ai.usage.cache_write.input_tokens.
USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
TOKEN_TYPE: Final = "gen_ai.token.type"
ATTEMPTS: Final = "ashford.attempts"
STREAM_ABANDONED: Final = "ashford.stream.abandoned"

# The batch API's spans (`ashford_llm.batch`): one per submit, poll and collection.
OPERATION_BATCH_SUBMIT: Final = "batch_submit"
OPERATION_BATCH_POLL: Final = "batch_poll"
OPERATION_BATCH_COLLECT: Final = "batch_collect"
BATCH_IDS: Final = "ashford.batch.ids"
BATCH_REQUESTS: Final = "ashford.batch.requests"
BATCH_STATE: Final = "ashford.batch.state"
BATCH_SUCCEEDED: Final = "ashford.batch.succeeded"
BATCH_FAILED: Final = "ashford.batch.failed"

# Opt-in content attributes (JSON strings on the span, structured on the event).
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"

# The execute_tool span (one per tool call ToolLoop runs).
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_TYPE_FUNCTION: Final = "function"
TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
# Opt-in, recorded only when content capture is on.
TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"

# Values.
OPERATION_CHAT: Final = "chat"
OUTPUT_TYPE_JSON: Final = "json"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
ERROR_TYPE_CANCELLED: Final = "cancelled"

# The log event carrying captured content.
INFERENCE_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# Instrumentation scope of the tracer, meter and logger.
SCOPE_NAME: Final = "ashford_llm"

# Metrics: name, unit, description.
OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
OPERATION_DURATION_UNIT: Final = "s"
OPERATION_DURATION_DESCRIPTION: Final = "Duration of GenAI client operation"
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
TOKEN_USAGE_UNIT: Final = "{token}"
TOKEN_USAGE_DESCRIPTION: Final = "Number of input and output tokens used by GenAI clients"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
TIME_TO_FIRST_CHUNK_DESCRIPTION: Final = (
    "Time to receive the first chunk, measured from when the client issues the generation "
    "request to when the first chunk is received in the response stream."
)
TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
TIME_PER_OUTPUT_CHUNK_DESCRIPTION: Final = (
    "Time per output chunk, recorded for each chunk received after the first one, measured "
    "as the time elapsed from the end of the previous chunk to the end of the current chunk."
)

# The conventions' explicit bucket boundaries (seconds, tokens).
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
