"""The inference child process: loads the model once, then serves requests over a pipe.

Runs in a `spawn`ed process so that a crash in native code (corrupt file, out of memory, a
llama.cpp assertion) kills only this process. It streams every decoded piece of text as soon as
the token is sampled and checks the shared cancel flag after every token.

It uses llama-cpp-python's token generator directly rather than `create_completion(stream=True)`,
whose per-token re-detokenisation of the whole output is quadratic (35x slower on long outputs).
"""

from __future__ import annotations

import codecs
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, cast

from engines.llm.results import LoadParams, Task

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

_FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}"
)


_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


def strict_json_gbnf(schema: str) -> str:
    """GBNF for a JSON schema, with JSON's ban on raw control characters inside strings.

    llama-cpp-python's Python schema converter allows any character but quote and backslash in
    strings, so a model could emit a raw newline and produce invalid JSON; llama.cpp's own
    converter excludes U+0000-U+001F and U+007F, and so do we.
    """
    from llama_cpp import llama_grammar

    gbnf = llama_grammar.json_schema_to_gbnf(schema)
    if _LOOSE_CHAR in gbnf:
        gbnf = gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)
    return gbnf


class _Model:
    """The loaded model plus per-model caches (chat formatter, compiled grammars)."""

    def __init__(self, model_path: str, load: LoadParams) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=model_path,
            n_ctx=load.n_ctx,
            n_threads=load.n_threads,
            n_threads_batch=load.n_threads,
            n_gpu_layers=load.n_gpu_layers or 0,
            n_batch=load.n_batch,
            seed=load.seed,
            verbose=False,
        )
        meta = self.llm.metadata
        self.template = meta.get("tokenizer.chat_template")
        vocab = self.llm._model.vocab
        self.vocab = vocab
        eos = self.llm.token_eos()
        bos = self.llm.token_bos()
        eos_s = self.llm._model.token_get_text(eos) if eos >= 0 else ""
        bos_s = self.llm._model.token_get_text(bos) if bos >= 0 else ""
        self.formatter = Jinja2ChatFormatter(
            self.template or _FALLBACK_TEMPLATE, eos_token=eos_s, bos_token=bos_s
        )
        self.grammars: dict[str, Any] = {}

    def prompt_for(self, task: Task) -> tuple[str, list[str]]:
        if task.prompt is not None:
            return task.prompt, []
        msgs = [{"role": r, "content": c} for r, c in task.messages]
        resp = self.formatter(messages=cast("list[ChatCompletionRequestMessage]", msgs))
        stop = resp.stop if isinstance(resp.stop, list) else [resp.stop] if resp.stop else []
        return resp.prompt, [s for s in stop if s]

    def grammar(self, schema: str) -> Any:  # noqa: ANN401
        if schema not in self.grammars:
            self.grammars[schema] = self.llama_cpp.LlamaGrammar.from_string(
                strict_json_gbnf(schema), verbose=False
            )
        return self.grammars[schema]


class _LazyGrammarSampler:
    """Grammar-constrained sampling that checks the grammar on the sampled token first.

    llama-cpp-python applies the grammar to the whole vocabulary before sampling, which costs
    ~0.5 s per token with a 49k vocabulary on 2 cores. Like llama.cpp's own `common_sampler`, we
    sample without the grammar, accept the token if the grammar allows it, and only otherwise
    re-sample with the grammar applied to all candidates. The distribution is the same.
    """

    def __init__(self, model: _Model, grammar: Any, p: Any) -> None:  # noqa: ANN401
        import ctypes

        import numpy as np

        c = model.llama_cpp
        self.c, self.ctypes, self.np = c, ctypes, np
        self.ctx = model.llm._ctx.ctx
        self.n_vocab = model.llm.n_vocab()
        self.grammar = c.llama_sampler_init_grammar(
            model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self.grammar:
            raise ValueError("llama.cpp rejected the JSON-schema grammar")
        self.chain = c.llama_sampler_chain_init(c.llama_sampler_chain_default_params())
        if p.temperature <= 0:
            c.llama_sampler_chain_add(self.chain, c.llama_sampler_init_greedy())
        else:
            c.llama_sampler_chain_add(self.chain, c.llama_sampler_init_top_k(p.top_k))
            c.llama_sampler_chain_add(self.chain, c.llama_sampler_init_top_p(p.top_p, 1))
            c.llama_sampler_chain_add(self.chain, c.llama_sampler_init_temp(p.temperature))
            c.llama_sampler_chain_add(self.chain, c.llama_sampler_init_dist(p.seed & 0xFFFFFFFF))
        self.buf = (c.llama_token_data * self.n_vocab)()
        dtype = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        self.view = np.frombuffer(self.buf, dtype=dtype)
        self.ids = np.arange(self.n_vocab, dtype=np.int32)
        self.one = (c.llama_token_data * 1)()

    def _candidates(self) -> Any:  # noqa: ANN401
        logits = self.np.ctypeslib.as_array(
            self.c.llama_get_logits_ith(self.ctx, -1), shape=(self.n_vocab,)
        )
        self.view["id"] = self.ids
        self.view["logit"] = logits
        self.view["p"] = 0.0
        return self.c.llama_token_data_array(self.buf, self.n_vocab, -1, False)

    def sample(self) -> int:
        c, byref = self.c, self.ctypes.byref
        cur = self._candidates()
        c.llama_sampler_apply(self.chain, byref(cur))
        tok = int(self.buf[cur.selected].id)
        self.one[0].id, self.one[0].logit, self.one[0].p = tok, 1.0, 0.0
        single = c.llama_token_data_array(self.one, 1, -1, False)
        c.llama_sampler_apply(self.grammar, byref(single))
        if self.one[0].logit == float("-inf"):
            cur = self._candidates()
            c.llama_sampler_apply(self.grammar, byref(cur))
            c.llama_sampler_apply(self.chain, byref(cur))
            tok = int(self.buf[cur.selected].id)
        c.llama_sampler_accept(self.grammar, tok)
        c.llama_sampler_accept(self.chain, tok)
        return tok

    def close(self) -> None:
        self.c.llama_sampler_free(self.chain)
        self.c.llama_sampler_free(self.grammar)


def _grammar_tokens(model: _Model, tokens: list[int], sampler: _LazyGrammarSampler) -> Any:  # noqa: ANN401
    llm = model.llm
    llm.reset()
    llm.eval(tokens)
    try:
        while True:
            tok = sampler.sample()
            yield tok
            llm.eval([tok])
    finally:
        sampler.close()


def _run(model: _Model, task: Task, conn: Connection, cancel: Any) -> dict[str, Any]:  # noqa: ANN401
    t0 = time.perf_counter()
    llm = model.llm
    p = task.params
    prompt, template_stop = model.prompt_for(task)
    stops = [s for s in (*p.stop, *template_stop) if s]
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    n_ctx = llm.n_ctx()
    if len(tokens) >= n_ctx:
        raise ValueError(f"prompt is {len(tokens)} tokens; the model context holds {n_ctx}")
    max_tokens = min(p.max_tokens, n_ctx - len(tokens))
    grammar = model.grammar(task.json_schema) if task.json_schema else None
    llm.set_seed(p.seed)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    is_eog = model.llama_cpp.llama_vocab_is_eog
    vocab = model.vocab
    text = ""
    n = 0
    ttft = 0.0
    reason = "length"
    max_stop = max((len(s) for s in stops), default=0)
    send = conn.send
    task_id = task.task_id
    if grammar is not None:
        stream = _grammar_tokens(model, tokens, _LazyGrammarSampler(model, grammar, p))
    else:
        stream = llm.generate(
            tokens,
            top_k=p.top_k,
            top_p=p.top_p,
            min_p=0.0,
            temp=p.temperature,
            repeat_penalty=p.repeat_penalty,
        )
    for tok in stream:
        if is_eog(vocab, tok):
            reason = "stop"
            break
        if n == 0:
            ttft = time.perf_counter() - t0
        n += 1
        piece = decoder.decode(llm.detokenize([tok]))
        if piece:
            if stops:
                tail = text[-max_stop:] + piece
                hit = min((i for s in stops if (i := tail.find(s)) >= 0), default=-1)
                if hit >= 0:
                    piece = tail[:hit][len(text[-max_stop:]) :]
                    if piece:
                        text += piece
                        send(("tok", task_id, piece))
                    reason = "stop"
                    break
            text += piece
            send(("tok", task_id, piece))
        if cancel.is_set():
            reason = "cancelled"
            break
        if n >= max_tokens:
            reason = "length"
            break
    return {
        "text": text,
        "n_prompt_tokens": len(tokens),
        "n_tokens": n,
        "ttft_s": ttft,
        "elapsed_s": time.perf_counter() - t0,
        "stop_reason": reason,
    }
    # (the generator is closed when it goes out of scope, freeing its samplers)


def child_main(conn: Connection, cancel: Any, model_path: str, load: LoadParams) -> None:  # noqa: ANN401
    """Entry point of the child process: load, report ready, then serve until told to close."""
    t0 = time.perf_counter()
    try:
        model = _Model(model_path, load)
    except Exception as exc:  # reported to the parent as a clear message
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    conn.send(
        (
            "ready",
            {
                "load_s": time.perf_counter() - t0,
                "n_ctx": model.llm.n_ctx(),
                "n_threads": load.n_threads,
                "n_gpu_layers": load.n_gpu_layers or 0,
                "chat_template": bool(model.template),
            },
        )
    )
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "close":
            return
        if msg[0] == "run":
            task: Task = msg[1]
            try:
                stats = _run(model, task, conn, cancel)
            except Exception as exc:
                conn.send(("fail", task.task_id, f"{type(exc).__name__}: {exc}"))
                continue
            conn.send(("done", task.task_id, stats))
