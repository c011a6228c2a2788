"""OpenAI-shaped response objects, so code written for the official SDKs
(`resp.choices[0].message.content`) works unchanged whichever provider answered: the shared
base (`base`), chat completions and stream chunks (`chat`), and the other resources'
objects (`resources`)."""

from .base import MAX_TOKENS_COUNT, SDKObject, count, dump_value
from .chat import (
    Accumulator,
    AsyncCompletion,
    AsyncTaskStatus,
    Choice,
    Chunk,
    ChunkChoice,
    Completion,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
    as_references,
    as_text,
    chunk_from_openai,
    completion_from_openai,
    text_chunk,
)
from .resources import (
    APIObject,
    Batch,
    BatchRequestCounts,
    Embedding,
    EmbeddingsResponse,
    EmbeddingUsage,
    FileContent,
    FileDeleted,
    FileObject,
    ImageData,
    ImagesResponse,
    ListPage,
    TokenCount,
    embeddings_from_openai,
)

__all__ = ["MAX_TOKENS_COUNT", "APIObject", "Accumulator", "AsyncCompletion", "AsyncTaskStatus", "Batch", "BatchRequestCounts", "Choice", "Chunk",
           "ChunkChoice", "Completion", "Delta", "Embedding", "EmbeddingUsage",
           "EmbeddingsResponse", "FileContent", "FileDeleted", "FileObject", "FunctionCall",
           "ImageData", "ImagesResponse", "ListPage", "Message", "SDKObject", "TokenCount",
           "ToolCall", "Usage", "as_references", "as_text", "chunk_from_openai", "completion_from_openai",
           "count", "dump_value", "embeddings_from_openai", "text_chunk"]
