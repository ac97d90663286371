module github.com/redpack-go/redpack

go 1.24.0

require (
	github.com/beevik/etree v1.8.1
	github.com/davecgh/go-spew v1.1.1
	github.com/google/uuid v1.6.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/time v0.14.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.11.0 // indirect
)
