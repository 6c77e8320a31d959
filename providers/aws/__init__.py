"""The `aws` target: EC2 instances running the shared VM runtime, behind an ALB."""
