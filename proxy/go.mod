module github.com/llm-observatory/llm-observatory/proxy

go 1.26.0
