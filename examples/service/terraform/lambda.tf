# Every zip comes from local.zips, filled by build.tf: each artifact's path (relative to this
# folder, so the plan is the same from any checkout), base64sha256, runtime and arch, and for a
# function the names of its layers — nothing here repeats what pyproject.toml declares.

resource "aws_iam_role" "lambda" {
  name = "orders-service"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "orders-deps"
  filename                 = local.zips.deps.path
  source_code_hash         = local.zips.deps.base64sha256
  compatible_runtimes      = [local.zips.deps.runtime]
  compatible_architectures = [local.zips.deps.arch]
}

locals {
  layer_arns = { deps = aws_lambda_layer_version.deps.arn }
}

resource "aws_lambda_function" "api" {
  function_name    = "orders-api"
  role             = aws_iam_role.lambda.arn
  runtime          = local.zips.api.runtime
  architectures    = [local.zips.api.arch]
  handler          = local.zips.api.handler
  filename         = local.zips.api.path
  source_code_hash = local.zips.api.base64sha256
  layers           = [for name in compact(split("\n", local.zips.api.layers)) : local.layer_arns[name]]
}

resource "aws_lambda_function" "worker" {
  function_name    = "orders-worker"
  role             = aws_iam_role.lambda.arn
  runtime          = local.zips.worker.runtime
  architectures    = [local.zips.worker.arch]
  handler          = local.zips.worker.handler
  filename         = local.zips.worker.path
  source_code_hash = local.zips.worker.base64sha256
  layers           = [for name in compact(split("\n", local.zips.worker.layers)) : local.layer_arns[name]]
  timeout          = 30
}
