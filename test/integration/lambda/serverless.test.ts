/**
 * serverless.yml, packaged offline by osls (`osls package`): the CloudFormation it produces must
 * match the code it deploys. The table is the one the DynamoDB store expects, every handler is an
 * export of functions/runtime/lambda.ts, IAM allows only the store's calls on that table, the stream
 * filter skips what the local controller manager skips, and the zip holds only the Lambda bundle.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { IGNORED_KINDS } from '../../../functions/controllers/manager';
import * as lambda from '../../../functions/runtime/lambda';
import { LEASE_PARTITION, partitionKeys, tableDefinition } from '../../../functions/store/dynamodb';
import { buildDist } from '../../helpers/build';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../../..');

type Resource = { Type: string; Properties: Record<string, unknown> };

describe('serverless.yml', () => {
  let resources: Record<string, Resource>;
  let outputs: Record<string, { Value: unknown }>;
  let out = '';

  beforeAll(async () => {
    await buildDist();
    out = mkdtempSync(join(tmpdir(), 'ferry-sls-'));
    await run(
      process.execPath,
      [join(root, 'node_modules/osls/bin/serverless.js'), 'package', '--stage', 'ci', '--package', out],
      { cwd: root, env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' } },
    );
    const template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
    resources = template.Resources;
    outputs = template.Outputs;
  }, 120_000);

  const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);

  it('declares the table the DynamoDB store expects, with a stream', () => {
    const table = resources.StateTable?.Properties ?? {};
    const expected = tableDefinition('ignored');
    expect(table.AttributeDefinitions).toEqual(expected.AttributeDefinitions);
    expect(table.KeySchema).toEqual(expected.KeySchema);
    expect(table.GlobalSecondaryIndexes).toEqual(expected.GlobalSecondaryIndexes);
    expect(table.BillingMode).toBe(expected.BillingMode);
    // Both images: the controllers tell a heartbeat-only Node write and read a Lease renewal from the record.
    expect(table.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
  });

  it('points every function at an export of the Lambda runtime, on nodejs22.x', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.map((f) => f.Properties.Handler).sort()).toEqual([
      'dist/functions/lambda.api',
      'dist/functions/lambda.bootstrap',
      'dist/functions/lambda.controllers',
    ]);
    for (const f of functions) {
      expect(f.Properties.Runtime).toBe('nodejs22.x');
      const name = String(f.Properties.Handler).split('.').pop() as string;
      expect(typeof (lambda as Record<string, unknown>)[name]).toBe('function');
    }
  });

  it('lets the functions make only the store calls, on the table and its index', () => {
    const role = resources.IamRoleLambdaExecution?.Properties as {
      Policies: { PolicyDocument: { Statement: { Action: string[]; Resource: unknown[] }[] } }[];
    };
    const statements = role.Policies.flatMap((p) => p.PolicyDocument.Statement);
    const dynamo = statements.filter((s) => s.Action.some((a) => a.startsWith('dynamodb:')));
    expect(statements.every((s) => !s.Action.some((a) => a.endsWith(':*')))).toBe(true);
    const actions = dynamo.flatMap((s) => s.Action).sort();
    expect(actions).toEqual(
      [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        // the stream event source: added by the framework, on the stream ARN
        'dynamodb:DescribeStream',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
        'dynamodb:ListStreams',
      ].sort(),
    );
    for (const s of dynamo) for (const r of s.Resource) expect(JSON.stringify(r)).toContain('StateTable');
    // NodePools: EC2 termination only of this cluster's instances.
    const terminate = statements.find((s) => s.Action.includes('ec2:TerminateInstances')) as unknown as {
      Condition?: { StringEquals?: Record<string, unknown> };
    };
    expect(terminate.Condition?.StringEquals?.['ec2:ResourceTag/ferry:cluster']).toBe('ferry-ci');
    const controllers = ofType('AWS::Lambda::Function').find((f) =>
      String(f.Properties.Handler).endsWith('.controllers'),
    ) as Resource;
    const env = (controllers.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.FERRY_CLUSTER).toBe('ferry-ci');
    expect(env.FERRY_PUBLIC_URL).toEqual({ 'Fn::GetAtt': ['HttpApi', 'ApiEndpoint'] });
  });

  it('gives the API function a URL without IAM auth, public only for invocations through that URL', () => {
    const urls = ofType('AWS::Lambda::Url');
    expect(urls).toHaveLength(1);
    expect(resources.ApiLambdaFunctionUrl?.Properties).toMatchObject({
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': ['ApiLambdaFunction', 'Arn'] },
    });
    // A buffered URL, like the HTTP API: no response streaming, no CORS (agents are no browsers).
    expect(resources.ApiLambdaFunctionUrl?.Properties.InvokeMode).toBeUndefined();
    expect(resources.ApiLambdaFunctionUrl?.Properties.Cors).toBeUndefined();
    expect(outputs.ApiLambdaFunctionUrl?.Value).toEqual({ 'Fn::GetAtt': ['ApiLambdaFunctionUrl', 'FunctionUrl'] });
    // Every public grant is on the API function and bound to its URL: nothing else becomes callable.
    const publicGrants = ofType('AWS::Lambda::Permission').filter((p) => p.Properties.Principal === '*');
    expect(
      publicGrants.map((p) => p.Properties).sort((a, b) => String(a.Action).localeCompare(String(b.Action))),
    ).toEqual([
      {
        FunctionName: { 'Fn::GetAtt': ['ApiLambdaFunction', 'Arn'] },
        Action: 'lambda:InvokeFunction',
        Principal: '*',
        InvokedViaFunctionUrl: true,
      },
      {
        FunctionName: { 'Fn::GetAtt': ['ApiLambdaFunction', 'Arn'] },
        Action: 'lambda:InvokeFunctionUrl',
        Principal: '*',
        FunctionUrlAuthType: 'NONE',
      },
    ]);
  });

  it("points machines' agents at the function URL and users at the HTTP API", () => {
    const controllers = ofType('AWS::Lambda::Function').find((f) =>
      String(f.Properties.Handler).endsWith('.controllers'),
    ) as Resource;
    const env = (controllers.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.FERRY_AGENT_URL).toEqual({ 'Fn::GetAtt': ['ApiLambdaFunctionUrl', 'FunctionUrl'] });
    expect(env.FERRY_PUBLIC_URL).toEqual({ 'Fn::GetAtt': ['HttpApi', 'ApiEndpoint'] });
    // The HTTP API still routes everything to the same function.
    expect(ofType('AWS::ApiGatewayV2::Route').map((r) => r.Properties.RouteKey)).toEqual(['$default']);
  });

  it('seals Secrets under its own KMS key, with only GenerateDataKey and Decrypt on that key', () => {
    const role = resources.IamRoleLambdaExecution?.Properties as {
      Policies: { PolicyDocument: { Statement: { Action: string[]; Resource: unknown[] }[] } }[];
    };
    const statements = role.Policies.flatMap((p) => p.PolicyDocument.Statement);
    const kms = statements.filter((s) => s.Action.some((a) => a.startsWith('kms:')));
    expect(kms.flatMap((s) => s.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kms.flatMap((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': ['SecretsKey', 'Arn'] }]);
    expect(resources.SecretsKey?.Type).toBe('AWS::KMS::Key');
    expect(resources.SecretsKey?.Properties.EnableKeyRotation).toBe(true);
    for (const f of ofType('AWS::Lambda::Function')) {
      const env = (f.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.FERRY_KMS_KEY_ARN).toEqual({ 'Fn::GetAtt': ['SecretsKey', 'Arn'] });
    }
  });

  const patternOf = (mapping: Resource | undefined) => {
    const criteria = mapping?.Properties.FilterCriteria as { Filters: { Pattern: string }[] } | undefined;
    return JSON.parse(criteria?.Filters[0]?.Pattern ?? '{}');
  };

  it('triggers the controllers on the stream except for what the local manager ignores', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    const mapping = mappings.find((m) => JSON.stringify(m.Properties.FilterCriteria).includes('anything-but'));
    const pattern = patternOf(mapping);
    const skipped = pattern.dynamodb.Keys.pk.S[0]['anything-but'] as string[];
    // Sharded kinds (Events, Leases) are skipped by each of their partition keys.
    expect(skipped.sort()).toEqual([...[...IGNORED_KINDS].flatMap(partitionKeys), LEASE_PARTITION].sort());
    expect(ofType('AWS::Events::Rule')[0]?.Properties.ScheduleExpression).toBe('rate(1 minute)');
  });

  it('hands the controllers every node Lease renewal on a second mapping, batched for at most 6 s', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    const lease = mappings.find((m) => JSON.stringify(m.Properties.FilterCriteria).includes('prefix'));

    expect(mappings).toHaveLength(2);
    expect(patternOf(lease)).toEqual({ dynamodb: { Keys: { pk: { S: [{ prefix: 'Lease#' }] } } } });
    expect(lease?.Properties.MaximumBatchingWindowInSeconds).toBe(6);
    expect(lease?.Properties.FunctionName).toEqual({ 'Fn::GetAtt': ['ControllersLambdaFunction', 'Arn'] });
    expect(lease?.Properties.EventSourceArn).toEqual({ 'Fn::GetAtt': ['StateTable', 'StreamArn'] });
    // Every Lease partition matches it, and only those (store/dynamodb-layout.ts names them).
    for (const pk of partitionKeys('Lease')) expect(pk.startsWith('Lease#')).toBe(true);
  });

  it('zips only the Lambda bundle', async () => {
    const { stdout } = await run('python3', [
      '-c',
      'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))',
      join(out, 'ferry.zip'),
    ]);
    const files = stdout.trim().split('\n');
    expect(files).toContain('dist/functions/lambda.mjs');
    for (const f of files) expect(f).toMatch(/^dist\/functions\/[^/]+\.mjs$/);
  });
});
