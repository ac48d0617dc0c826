"""AWS Bedrock's Converse API: dialect and provider (botocore from the extra `bedrock`)."""

from ashford_llm.providers.bedrock.dialect import BedrockDialect, BedrockProvider

__all__ = ["BedrockDialect", "BedrockProvider"]
