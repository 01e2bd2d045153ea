// Drives a nanio server with the AWS SDK for JavaScript v3 for
// tests/integration/test_js_sdk.py: `node sdk_checks.mjs <check> <bucket> [file]`.
// The endpoint and keys come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.  Each check prints one JSON object of what the SDK
// saw; the Python test decides whether that is right.  An SDK error is
// printed as {"error": name, "status": code}, never thrown past here.
import { createReadStream, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const MiB = 1024 * 1024;

function client(secret = process.env.AWS_SECRET_ACCESS_KEY) {
  return new S3Client({
    endpoint: process.env.AWS_ENDPOINT_URL,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: secret },
    maxAttempts: 1,
  });
}

async function text(body) {
  return Buffer.from(await body.transformToByteArray()).toString("utf8");
}

const checks = {
  // PutObject with a type and metadata; GetObject whole and by range; HeadObject.
  async "put-get"(s3, bucket) {
    const put = await s3.send(new PutObjectCommand({
      Bucket: bucket, Key: "dir/hello.txt", Body: "hello world",
      ContentType: "text/plain", Metadata: { colour: "blue" },
    }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/hello.txt" }));
    const ranged = await s3.send(new GetObjectCommand({
      Bucket: bucket, Key: "dir/hello.txt", Range: "bytes=6-",
    }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dir/hello.txt" }));
    return {
      putETag: put.ETag, body: await text(got.Body), contentType: got.ContentType,
      metadata: got.Metadata, range: await text(ranged.Body), contentRange: ranged.ContentRange,
      headLength: head.ContentLength, headETag: head.ETag,
    };
  },
  // A stream body: the SDK sends it aws-chunked, HTTP-chunked, with a CRC32 trailer.
  async "stream-put"(s3, bucket, file) {
    const put = await s3.send(new PutObjectCommand({
      Bucket: bucket, Key: "streamed.bin", Body: createReadStream(file, { highWaterMark: 64 * 1024 }),
      ContentLength: statSync(file).size,
    }));
    return { putETag: put.ETag, checksumCRC32: put.ChecksumCRC32 };
  },
  // lib-storage's managed upload: 5 MiB parts, uploaded four at a time.
  async multipart(s3, bucket, file) {
    const upload = new Upload({
      client: s3, params: { Bucket: bucket, Key: "parts.bin", Body: await readFile(file) },
      partSize: 5 * MiB, queueSize: 4,
    });
    const done = await upload.done();
    return { eTag: done.ETag };
  },
  // Presigned PUT and GET URLs, fetched with Node's own fetch and no credentials.
  async presigned(s3, bucket) {
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "p.txt" }), { expiresIn: 300 });
    const put = await fetch(putUrl, { method: "PUT", body: "by URL" });
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "p.txt" }), { expiresIn: 300 });
    const get = await fetch(getUrl);
    return { putStatus: put.status, getStatus: get.status, body: await get.text() };
  },
  // CopyObject, ListObjectsV2 with a delimiter, then DeleteObjects.
  async "copy-list-delete"(s3, bucket) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a/src", Body: "copied" }));
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "b", CopySource: `${bucket}/a/src` }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
    const deleted = await s3.send(new DeleteObjectsCommand({
      Bucket: bucket, Delete: { Objects: [{ Key: "a/src" }, { Key: "b" }] },
    }));
    return {
      keys: (listed.Contents ?? []).map((item) => item.Key),
      prefixes: (listed.CommonPrefixes ?? []).map((item) => item.Prefix),
      deleted: (deleted.Deleted ?? []).map((item) => item.Key).sort(),
      errors: deleted.Errors ?? [],
    };
  },
  // Refusals: the SDK must recognise S3's error codes and statuses.
  async errors(s3, bucket) {
    const outcomes = {};
    const attempts = {
      missingKey: () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: "absent" })),
      badSecret: () => client("not-the-secret").send(new HeadObjectCommand({ Bucket: bucket, Key: "absent" })),
      badSecretPut: () => client("not-the-secret").send(new PutObjectCommand({ Bucket: bucket, Key: "x", Body: "x" })),
    };
    for (const [name, attempt] of Object.entries(attempts)) {
      try {
        await attempt();
        outcomes[name] = { error: null };
      } catch (error) {
        outcomes[name] = { error: error.name, status: error.$metadata?.httpStatusCode };
      }
    }
    return outcomes;
  },
};

const [check, bucket, file] = process.argv.slice(2);
if (!(check in checks)) {
  console.error(`unknown check ${check}; one of ${Object.keys(checks).join(", ")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await checks[check](client(), bucket, file)));
} catch (error) {
  console.log(JSON.stringify({ error: error.name, status: error.$metadata?.httpStatusCode, message: error.message }));
}
