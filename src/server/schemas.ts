// JSON schemas of the request bodies (checked by Fastify before a handler runs: a wrong type is a
// 400 in OpenAI's error JSON) and their TypeScript shapes. Fields OpenAI defines that change the
// answer's meaning and that this server cannot honour (n > 1, echo, logprobs, tools) are refused
// rather than silently ignored; the other ones (user, presence_penalty, ...) are accepted and ignored.
import type { SteeringRequest } from "./backend.js";

type Nullable<T> = T | null | undefined;

export interface CommonBody {
  model?: Nullable<string>;
  max_tokens?: Nullable<number>;
  temperature?: Nullable<number>;
  top_p?: Nullable<number>;
  stop?: Nullable<string | string[]>;
  seed?: Nullable<number>;
  stream?: Nullable<boolean>;
  stream_options?: Nullable<{ include_usage?: Nullable<boolean> }>;
  safesteer?: Nullable<SteeringRequest>;
}

export type ContentPart = { type: "text"; text: string };

export interface ChatBody extends CommonBody {
  messages: Array<{ role: string; content: string | ContentPart[] }>;
  max_completion_tokens?: Nullable<number>;
}

export interface CompletionBody extends CommonBody {
  prompt: string | string[];
}

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: "null" }] });

const safesteer = {
  type: "object",
  additionalProperties: false,
  properties: {
    policy: {
      anyOf: [
        { type: "string", enum: ["all", "none"] },
        { type: "object", additionalProperties: { type: "number" }, propertyNames: { pattern: "^[A-Za-z0-9_]+$" } },
      ],
    },
    mode: { type: "string", enum: ["policy", "conditional"] },
    fire: { type: "string", enum: ["all", "top"] },
    bundle: { type: "string", minLength: 1 },
    neurons: { type: "string", minLength: 1 },
    suppress: { type: "object", additionalProperties: { type: "number" }, propertyNames: { pattern: "^[A-Za-z0-9_]+$" } },
  },
};

const common = {
  model: nullable({ type: "string" }),
  max_tokens: nullable({ type: "integer", minimum: 1 }),
  temperature: nullable({ type: "number", minimum: 0, maximum: 2 }),
  top_p: nullable({ type: "number", exclusiveMinimum: 0, maximum: 1 }),
  stop: nullable({
    anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, maxItems: 16 }],
  }),
  seed: nullable({ type: "integer" }),
  stream: nullable({ type: "boolean" }),
  stream_options: nullable({ type: "object", properties: { include_usage: nullable({ type: "boolean" }) } }),
  safesteer: nullable(safesteer),
  n: nullable({ type: "integer", minimum: 1, maximum: 1 }),
  tools: nullable({ type: "array", maxItems: 0 }),
};

export const chatSchema = {
  type: "object",
  required: ["messages"],
  properties: {
    ...common,
    max_completion_tokens: nullable({ type: "integer", minimum: 1 }),
    logprobs: nullable({ type: "boolean", const: false }),
    messages: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["role", "content"],
        properties: {
          role: { type: "string", enum: ["system", "developer", "user", "assistant"] },
          content: {
            anyOf: [
              { type: "string" },
              {
                type: "array",
                items: {
                  type: "object",
                  required: ["type", "text"],
                  properties: { type: { type: "string", const: "text" }, text: { type: "string" } },
                },
              },
            ],
          },
        },
      },
    },
  },
};

export const completionSchema = {
  type: "object",
  required: ["prompt"],
  properties: {
    ...common,
    prompt: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1, maxItems: 1 }] },
    echo: nullable({ type: "boolean", const: false }),
    best_of: nullable({ type: "integer", minimum: 1, maximum: 1 }),
    logprobs: nullable({ type: "integer", const: 0 }),
    suffix: { type: "null" },
  },
};
