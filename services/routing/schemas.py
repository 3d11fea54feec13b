"""What crosses the wire from routing: the directory as staff and other services see it."""
from marshmallow import Schema, fields


class PersonSchema(Schema):
    id = fields.String()
    name = fields.String()


class UnitSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    head = fields.Nested(PersonSchema)
    handlers = fields.List(fields.Nested(PersonSchema))

