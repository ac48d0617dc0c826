"""ashford_llm: one dependable, composable way to call OpenAI, Anthropic and Google Gemini."""

from typing import TYPE_CHECKING

from ashford_llm.builder import ClientBuilder, Layer
from ashford_llm.config import ConfigError, ModelConfig, StackConfig
from ashford_llm.errors import (
    AuthenticationError,
    BatchItemNotRunError,
    BudgetExceededError,
    CircuitOpenError,
    ContentFilterError,
    EmptyResponseError,
    FatalError,
    InvalidRequestError,
    JsonValidationError,
    LLMError,
    LLMTimeoutError,
    MidStreamError,
    MissingCredentialsError,
    NetworkError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    RetryableError,
    ServerError,
    ToolStepsExceededError,
)
from ashford_llm.protocol import LLMProvider, ProviderInfo
from ashford_llm.providers.registry import known_providers, provider_class, provider_from_config
from ashford_llm.types import (
    CachePoint,
    CallCost,
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    FinishReason,
    ImagePart,
    Part,
    ReasoningConfig,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
    Role,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolResult,
)

if TYPE_CHECKING:
    __version__: str


def __getattr__(name: str) -> str:
    """Reads `__version__` on first use: importlib.metadata is slow to import."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("ashford-llm")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        value = "0.0.0"
    globals()["__version__"] = value
    return value


__all__ = [
    "AuthenticationError",
    "BatchItemNotRunError",
    "BudgetExceededError",
    "CachePoint",
    "CallCost",
    "ChatMessage",
    "CircuitOpenError",
    "ClientBuilder",
    "CompletionRequest",
    "CompletionResponse",
    "ConfigError",
    "ContentFilterError",
    "DocumentPart",
    "EmptyResponseError",
    "FatalError",
    "FinishReason",
    "ImagePart",
    "InvalidRequestError",
    "JsonValidationError",
    "LLMError",
    "LLMProvider",
    "LLMTimeoutError",
    "Layer",
    "MidStreamError",
    "MissingCredentialsError",
    "ModelConfig",
    "NetworkError",
    "Part",
    "PermissionDeniedError",
    "ProviderInfo",
    "QuotaExhaustedError",
    "RateLimitError",
    "ReasoningConfig",
    "ReasoningDelta",
    "ReasoningEffort",
    "ReasoningPart",
    "ResponseDecodeError",
    "RetryableError",
    "Role",
    "ServerError",
    "StackConfig",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
    "ToolStepsExceededError",
    "__version__",
    "known_providers",
    "provider_class",
    "provider_from_config",
]
