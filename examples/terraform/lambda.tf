resource "aws_iam_role" "lambda" {
  name = "detzip-hello"
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
  layer_name               = "detzip-hello-deps"
  filename                 = local.layer_zip
  source_code_hash         = local.layer_hash
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

resource "aws_lambda_function" "hello" {
  function_name    = "detzip-hello"
  role             = aws_iam_role.lambda.arn
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = "app.handler"
  filename         = local.function_zip
  source_code_hash = local.function_hash
  layers           = [aws_lambda_layer_version.deps.arn]
}
