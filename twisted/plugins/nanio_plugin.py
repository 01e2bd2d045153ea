from twisted.application.service import ServiceMaker

nanio = ServiceMaker("nanio", "nanio.tap", "S3-compatible object storage server.", "nanio")
