DROP TABLE removed_attachments;
