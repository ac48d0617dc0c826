"""ToolLoop: runs the model's tool calls and asks again (`layer`), one call at a time in its
own span (`execute`), arguments checked against a JSON Schema where the tool has no type
(`schema`), and the usage of every turn added up (`usage`)."""

from ashford_llm.middleware.tool_loop.execute import ToolHandler
from ashford_llm.middleware.tool_loop.layer import ToolLoop

__all__ = ["ToolHandler", "ToolLoop"]
