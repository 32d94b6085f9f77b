module github.com/gopsrp/gopsrp

go 1.26

require (
	github.com/google/uuid v1.6.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.yaml.in/yaml/v3 v3.0.5
)

require (
	github.com/Azure/go-ntlmssp v0.1.1 // indirect
	github.com/jcmturner/gokrb5/v8 v8.4.4 // indirect
)
